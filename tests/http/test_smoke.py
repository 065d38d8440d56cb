from tests.conftest import ApiClient


def test_get_migrate_state_answers_pure_leanplum(api: ApiClient) -> None:
    item = api.ok("getMigrateState")
    assert item["sdk"] == "lp"
    assert item["api"] == {"profile": "lp", "events": "lp"}
