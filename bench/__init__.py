"""The benchmark suite: openplum under wrk, against a null handler on the same HTTP stack (the ceiling).

Run it with ``bench/run``; ``bench/README.md`` says what each scenario measures and what bounds each figure.
Nothing here is imported by openplum or by the tests.
"""
