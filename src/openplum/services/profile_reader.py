"""Profiles decoded in part, for reads that never write them back: only the counters a reader needs.

A ``getVars`` tests the few event and state counters its app's audiences read. Decoding a long history whole,
one struct per event name, then freeing them all, would cost more than the rest of the request: on a profile of
100 event names (11 KiB of JSON), 37 µs decoded whole against 16 µs keeping the two an audience reads.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import msgspec

from openplum.services import profile as profiles
from openplum.services.profile import EventStats, Profile, StateStats

Decode = Callable[[bytes], Profile]

_UNNAMEABLE = re.compile(r'[\\"\x00-\x1f]')
"""Characters msgspec refuses in a field's encoded name."""


@lru_cache(maxsize=64)
def reader(events: frozenset[str], states: frozenset[str]) -> Decode:
    """A decoder of profiles whose ``events`` and ``states`` hold only the names given.

    What it gives is a ``Profile``, of a subclass whose ``events`` and ``states`` are decoded through a struct
    with one field per wanted name, so that msgspec skips every other name without making anything of it; both
    are then made plain dicts of the wanted names present. Never save one: the names left out would be lost
    (``Unit.reading`` gives them only to units that do not write). Where a name holds a character msgspec
    refuses in a field's name (a quote, a backslash, a control character), profiles are decoded whole.
    """
    if any(_UNNAMEABLE.search(name) for name in (*events, *states)):
        return profiles.decode
    event_pairs = [(f"e{i}", name) for i, name in enumerate(sorted(events))]
    state_pairs = [(f"s{i}", name) for i, name in enumerate(sorted(states))]
    chosen_events = msgspec.defstruct(
        "ChosenEvents", [(field, EventStats | None, None) for field, _ in event_pairs], rename=dict(event_pairs),
        gc=False,
    )
    chosen_states = msgspec.defstruct(
        "ChosenStates", [(field, StateStats | None, None) for field, _ in state_pairs], rename=dict(state_pairs),
        gc=False,
    )
    partial = msgspec.defstruct(
        "PartialProfile",
        [("events", chosen_events, msgspec.field(default_factory=chosen_events)),
         ("states", chosen_states, msgspec.field(default_factory=chosen_states))],
        bases=(Profile,),
    )
    decoder = msgspec.json.Decoder(partial)

    def decode(doc: bytes) -> Profile:
        profile: Any = decoder.decode(doc)
        chosen = profile.events
        profile.events = {name: found for field, name in event_pairs if (found := getattr(chosen, field)) is not None}
        chosen = profile.states
        profile.states = {name: found for field, name in state_pairs if (found := getattr(chosen, field)) is not None}
        result: Profile = profile
        return result

    return decode
