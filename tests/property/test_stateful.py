"""A hypothesis state machine against the local server: after every flush the server = session.

Random creates, metadata edits (set, nested set, delete a key, replace a list), concept adds,
removals and negations, geo changes, deletes, flushes and rollbacks. After each flush (and each
rollback) a fresh session reads back every input the machine knows and must find exactly what
the first session holds. Runs in process and over HTTP.

Examples: 200 in process and 50 over HTTP by default (``CLARIMAP_STATEFUL_EXAMPLES`` sets the
in-process count, e.g. 2000 for a long run; HTTP runs a quarter of it).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from clarimap import ConceptAnnotation, FlushError, GeoPoint, Image, Input
from clarimap.server import ServerApp
from clarimap.testing import strategies as public
from tests.orm_support import Connected, make_app, session_on, tiny_png
from tests.property.strategies import keys

EXAMPLES = int(os.environ.get("CLARIMAP_STATEFUL_EXAMPLES", "200"))
geo_points = public.geo_points()
json_values = public.json_values(keys)  # few keys, so edits collide
concept_ids = st.sampled_from(["cat", "dog", "bird", "fish"])
values_with_null = st.one_of(json_values, st.none())
_counter = itertools.count(1)


def state(entity: Input) -> tuple[Any, ...]:
    """What the server must hold for an input (concept order is not part of it)."""
    return (
        dict(entity.metadata),
        sorted((c.id, c.value) for c in entity.concepts),
        entity.geo,
    )


@pytest.fixture(scope="module")
def shared_app() -> Iterator[ServerApp]:
    """One server for every example: each example uses ids of its own."""
    app = make_app()
    yield app
    app.close()


@pytest.mark.parametrize("kind", ["inprocess", "http"])
def test_server_state_equals_session_state(shared_app: ServerApp, kind: str) -> None:
    with session_on(shared_app, kind) as connected:
        machine = build_machine(connected)
        examples = EXAMPLES if kind == "inprocess" else max(10, EXAMPLES // 4)
        run_state_machine_as_test(
            machine,
            settings=settings(
                max_examples=examples,
                stateful_step_count=15,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            ),
        )


def build_machine(connected: Connected) -> type[RuleBasedStateMachine]:
    class SessionMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.session = connected.open()
            self.live: list[Input] = []  # in the session (new or stored), not deleted
            self.stored: set[str] = set()  # ids the server has
            self.deleted: set[str] = set()  # ids deleted by a flush
            # Stored inputs deleted since the last flush, in deletion order (a dict, not a set:
            # a set's order would change with the ids between a run and its replay, and
            # hypothesis needs the same choices to mean the same steps).
            self.pending_delete: dict[str, Input] = {}

        def teardown(self) -> None:
            self.session.close()

        # -- creating and deleting --------------------------------------------------------

        @initialize(
            metadata=st.lists(
                st.dictionaries(keys, json_values, max_size=3), min_size=1, max_size=3
            )
        )
        def stored_inputs(self, metadata: list[dict[str, Any]]) -> None:
            """Start with a few stored inputs, so most steps edit what the server has."""
            for each in metadata:
                self.create(each, ["cat"], False, None)
            self.flush()

        @rule(
            metadata=st.dictionaries(keys, json_values, max_size=3),
            concepts=st.lists(concept_ids, max_size=2, unique=True),
            negative=st.booleans(),
            geo=st.none() | geo_points,
        )
        def create(
            self,
            metadata: dict[str, Any],
            concepts: list[str],
            negative: bool,
            geo: GeoPoint | None,
        ) -> None:
            photo = Input(
                id=f"sm{next(_counter)}",
                image=Image(base64=tiny_png(next(_counter))),
                concepts=[ConceptAnnotation(c, 0.0 if negative else 1.0) for c in concepts],
                metadata=metadata,
                geo=geo,
            )
            self.session.add(photo)
            self.live.append(photo)

        @precondition(lambda self: self.live)
        @rule(data=st.data())
        def delete(self, data: st.DataObject) -> None:
            photo = data.draw(st.sampled_from(self.live))
            self.session.delete(photo)
            self.live.remove(photo)
            if photo.id in self.stored:
                self.pending_delete[photo.id] = photo

        # -- metadata --------------------------------------------------------------------

        @precondition(lambda self: self.live)
        @rule(data=st.data(), key=keys, value=values_with_null)
        def set_key(self, data: st.DataObject, key: str, value: Any) -> None:
            data.draw(st.sampled_from(self.live)).metadata[key] = value

        @precondition(lambda self: self.live)
        @rule(data=st.data(), key=keys, inner=keys, value=json_values)
        def nested_set(self, data: st.DataObject, key: str, inner: str, value: Any) -> None:
            photo = data.draw(st.sampled_from(self.live))
            if not isinstance(photo.metadata.get(key), dict):
                photo.metadata[key] = {}
            photo.metadata[key][inner] = value

        @precondition(lambda self: any(photo.metadata for photo in self.live))
        @rule(data=st.data())
        def delete_key(self, data: st.DataObject) -> None:
            photo = data.draw(st.sampled_from([p for p in self.live if p.metadata]))
            del photo.metadata[data.draw(st.sampled_from(sorted(photo.metadata)))]

        @precondition(lambda self: self.live)
        @rule(data=st.data(), key=keys, items=st.lists(json_values, max_size=3))
        def replace_list(self, data: st.DataObject, key: str, items: list[Any]) -> None:
            photo = data.draw(st.sampled_from(self.live))
            if isinstance(photo.metadata.get(key), list) and data.draw(st.booleans()):
                photo.metadata[key].extend(items)  # in place
            else:
                photo.metadata[key] = items

        # -- concepts and geo ----------------------------------------------------------------

        @precondition(lambda self: self.live)
        @rule(data=st.data(), concept=concept_ids, positive=st.booleans())
        def add_concept(self, data: st.DataObject, concept: str, positive: bool) -> None:
            photo = data.draw(st.sampled_from(self.live))
            if concept not in [c.id for c in photo.concepts]:
                photo.concepts.append(ConceptAnnotation(concept, 1.0 if positive else 0.0))

        @precondition(lambda self: any(photo.concepts for photo in self.live))
        @rule(data=st.data())
        def remove_concept(self, data: st.DataObject) -> None:
            photo = data.draw(st.sampled_from([p for p in self.live if p.concepts]))
            photo.concepts.pop(data.draw(st.integers(0, len(photo.concepts) - 1)))

        @precondition(lambda self: any(photo.concepts for photo in self.live))
        @rule(data=st.data())
        def negate_concept(self, data: st.DataObject) -> None:
            photo = data.draw(st.sampled_from([p for p in self.live if p.concepts]))
            index = data.draw(st.integers(0, len(photo.concepts) - 1))
            old = photo.concepts[index]
            photo.concepts[index] = ConceptAnnotation(old.id, 0.0 if old.positive else 1.0)

        @precondition(lambda self: self.live)
        @rule(data=st.data(), geo=st.none() | geo_points)
        def change_geo(self, data: st.DataObject, geo: GeoPoint | None) -> None:
            data.draw(st.sampled_from(self.live)).geo = geo

        # -- flush and rollback ---------------------------------------------------------------

        @rule()
        def flush(self) -> None:
            try:
                self.session.flush()
            except FlushError as error:  # pragma: no cover - reported with the outcomes
                raise AssertionError(
                    f"flush failed: {[(o.action, o.status) for o in error.failed]}"
                ) from error
            self.stored |= {photo.id for photo in self.live}
            self.deleted |= set(self.pending_delete)
            self.stored -= self.deleted
            self.pending_delete = {}
            self.check_server_equals_session()

        @rule()
        def rollback(self) -> None:
            self.session.rollback()
            restored = [p for p in self.live if p.id in self.stored]
            # un-deleted: the same objects, back in the session (held here, so the session's
            # weak identity map cannot lose them to the garbage collector in between)
            restored += [p for p in self.pending_delete.values() if p not in restored]
            self.live = restored
            self.pending_delete = {}
            self.check_server_equals_session()

        @invariant()
        def nothing_pending_is_lost(self) -> None:
            for photo in self.live:
                assert photo in self.session

        def check_server_equals_session(self) -> None:
            reader = connected.open()
            try:
                for photo in self.live:
                    fresh = reader.get(Input, photo.id)
                    assert fresh is not None, f"{photo.id} missing on the server"
                    assert state(fresh) == state(photo)
                for photo_id in self.deleted:
                    assert reader.get(Input, photo_id) is None
            finally:
                reader.close()

    return SessionMachine
