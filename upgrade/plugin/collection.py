"""Which checks a session runs, and the record of each, made from the final item list.

`Collection` validates every check's phase and ID and the waivers, drops the phases the mode does
not run, sorts by phase, parametrizes checks over replicas and nodes, and, once collection is
over, makes one record per check that starts as not run: for the checks that will run, for those
a selection (-k, -m, --deselect) removed, and for shipped checks collection left out (a path
argument, --ignore, an ini override). The verdict is computed from these records alone.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pytest

from upgrade.errors import HarnessError
from upgrade.evidence.records import CheckRecord
from upgrade.plugin.check_catalogue import (
    PHASE_MARKS,
    TARGET_VERSION_MARK,
    KnownCheck,
    known_checks,
)
from upgrade.rules import verdict as verdicts

if TYPE_CHECKING:
    from upgrade.config.settings import Settings
    from upgrade.plugin.harness import Harness

PHASES = PHASE_MARKS
# A check of a change, not of health: not part of a session without --to-version.
TARGET_VERSION_MARKER = TARGET_VERSION_MARK

record_key = pytest.StashKey[CheckRecord]()


def phase_of(item: pytest.Item) -> str | None:
    """The one phase marker of `item`, None without one, "ambiguous" with several."""
    phases = [p for p in PHASES if item.get_closest_marker(p) is not None]
    return phases[0] if len(phases) == 1 else (None if not phases else "ambiguous")


def check_id(item: pytest.Item) -> str | None:
    """The ID of `@pytest.mark.check("ID")`, or None when the marker or its ID is missing."""
    marker = item.get_closest_marker("check")
    if marker is None or not marker.args or not isinstance(marker.args[0], str):
        return None
    return marker.args[0]


def _description(item: pytest.Item) -> str:
    function = getattr(item, "function", None)
    doc = inspect.getdoc(function) if function is not None else None
    return (doc or "").strip()


def wanted_check(settings: Settings, phase: str, needs_target_version: bool) -> bool:
    """Whether this session runs a check of `phase`: a phase its mode runs, and a check marked
    `needs_target_version` only when --to-version says what the change is."""
    if settings.to_version is None and needs_target_version:
        return False
    mode = settings.mode
    if settings.phase == "preflight" or mode in ("health", "plan"):
        return phase == "preflight"
    if mode == "verify":
        return phase == "post"
    return True


class Collection:
    """The collection hooks of one session; the records go into the run state."""

    def __init__(self, harness: Harness) -> None:
        self.harness = harness
        # Items this mode does not run (another phase): not part of the session at all.
        self._outside: set[str] = set()
        self._outside_ids: set[str] = set()
        self._deselected: list[pytest.Item] = []

    def _wanted(self, item: pytest.Item) -> bool:
        needs = item.get_closest_marker(TARGET_VERSION_MARKER) is not None
        return wanted_check(self.harness.settings, phase_of(item) or "", needs)

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """Parametrize checks over replicas (`replica=5eb9459a7832`) and nodes (`host=SPEC`)."""
        if "node_spec" in metafunc.fixturenames:
            hosts = list(self.harness.settings.hosts) or [""]
            metafunc.parametrize(
                "node_spec", hosts, ids=[f"host={h}" if h else "no-hosts" for h in hosts]
            )
        if "replica" not in metafunc.fixturenames:
            return
        try:
            ids = sorted(self.harness.target().replica_urls())
        except HarnessError:
            ids = ["unknown"]  # the check then fails with the connection's one-line error
        if not ids:  # replicaSettings empty or null, as the 2.6/2.7 contract allows
            none = pytest.mark.skip(reason="DTR reports no replicas: PRE-REPLICA-COUNT's finding")
            metafunc.parametrize("replica", [pytest.param("", marks=none)], ids=["no-replicas"])
            return
        metafunc.parametrize("replica", ids, ids=[f"replica={rid}" for rid in ids])

    # tryfirst: before pytest's own -k/-m deselection (and any reordering plugin), so the checks
    # of another phase are dropped as outside the session, not counted as deselected, and the
    # phase order is the order the checks run in.
    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(
        self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        """Validate every check's phase and ID and the waivers, drop the phases this mode does
        not run, sort by phase. Records are made later, from the final item list."""
        problems = []
        for item in items:
            phase = phase_of(item)
            if phase is None or phase == "ambiguous":
                problems.append(
                    f"{item.nodeid}: needs exactly one phase marker ({', '.join(PHASES)})"
                )
            elif check_id(item) is None:
                problems.append(f"{item.nodeid}: needs a check ID (@pytest.mark.check('PRE-...'))")
        if problems:
            raise pytest.UsageError("checks without phase or ID:\n  " + "\n  ".join(problems))
        waivers = self.harness.waivers
        known = {check_id(item) for item in items}
        unknown = sorted({w.check for w in (*waivers.active.values(), *waivers.expired)} - known)
        if unknown and not self.harness.collect_errors:
            # Refused like the other waiver errors: no verdict, no bundle.
            self.harness.refused = True
            raise pytest.UsageError(
                f"--waivers {self.harness.settings.waivers}: {', '.join(unknown)} "
                f"{'is not a check' if len(unknown) == 1 else 'are not checks'} of this "
                "harness; correct the check ID (see the report's Check ID column)"
            )
        keep = [item for item in items if self._wanted(item)]
        dropped = [item for item in items if item not in keep]
        if dropped:
            self._outside.update(item.nodeid for item in dropped)
            self._outside_ids.update(check_id(item) or "" for item in dropped)
            config.hook.pytest_deselected(items=dropped)
        keep.sort(key=lambda item: PHASES.index(phase_of(item) or "post"))
        items[:] = keep

    def pytest_deselected(self, items: Sequence[pytest.Item]) -> None:
        """Remember checks a selection (-k, -m, --deselect) removed: they count as not run."""
        self._deselected.extend(i for i in items if i.nodeid not in self._outside)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        """A file of checks that failed to collect: its checks are missing from the verdict."""
        if report.failed:
            text = str(report.longrepr or "").strip().splitlines()
            harness = self.harness
            harness.collect_errors.append(
                {"nodeid": report.nodeid, "message": text[-1] if text else "collection failed"}
            )
            harness.session_record.collection_errors = harness.collect_errors

    # trylast: after the other plugins' pytest_collection_finish (the terminal's line of
    # collected items), so a refusal raised here comes after what they report of the list.
    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Make every check's record from the final item list, in this order: refuse --apply
        when any check is missing, then the records of the checks that run (each starts as not
        run), of those a selection removed, and of those collection left out."""
        checks = [item for item in session.items if phase_of(item) in PHASES]
        deselected = [i for i in self._deselected if phase_of(i) in PHASES]
        seen = {check_id(i) or "" for i in (*checks, *deselected)} | self._outside_ids
        uncollected = self._uncollected(session, seen)
        self._refuse_apply_with_missing_checks(deselected, uncollected)
        for item in checks:
            item.stash[record_key] = self._record(item, "not-run")
        for item in deselected:
            self._record(item, "deselected")
        for check in uncollected:
            if wanted_check(self.harness.settings, check.phase, check.needs_target_version):
                self._record_uncollected(check)

    def _refuse_apply_with_missing_checks(
        self, deselected: list[pytest.Item], uncollected: list[KnownCheck]
    ) -> None:
        harness = self.harness
        if not harness.settings.apply or not (deselected or uncollected or harness.collect_errors):
            return
        harness.refused = True
        if deselected or uncollected:
            removed = verdicts.ids_text(
                [verdicts.Outcome(check_id(i) or i.nodeid, "", "") for i in deselected]
                + [verdicts.Outcome(c.check_id, "", "") for c in uncollected]
            )
            why = (
                f"the selection (-k/-m/--deselect, a path argument, --ignore, -o) removed "
                f"{len(deselected) + len(uncollected)} check(s) ({removed})"
            )
            fix = "run without the selection"
        else:
            why = f"{len(harness.collect_errors)} file(s) of checks failed to collect"
            fix = "fix the collection errors above"
        raise pytest.UsageError(
            f"--apply runs the whole procedure and only after every preflight check ran: "
            f"{why}; {fix}, or run without --apply for a read-only look"
        )

    def _uncollected(self, session: pytest.Session, seen: set[str]) -> list[KnownCheck]:
        """Shipped checks pytest never collected (a path argument, --ignore, -o): not seen
        among the collected or deselected items."""
        config = session.config
        folders = {config.rootpath / p for p in config.getini("testpaths")} or {
            config.rootpath / "checks"
        }
        known = [
            check
            for folder in sorted(folders)
            if folder.is_dir()
            for check in known_checks(folder, config.rootpath)
        ]
        return [c for c in known if c.check_id not in seen]

    def _record(self, item: pytest.Item, outcome: str) -> CheckRecord:
        record = CheckRecord(
            nodeid=item.nodeid,
            check_id=check_id(item) or "",
            phase=phase_of(item) or "",
            description=_description(item),
            outcome=outcome,
        )
        if outcome == "deselected":
            record.message = "deselected by -k/-m/--deselect: this check did not run"
        self._keep(record)
        return record

    def _record_uncollected(self, check: KnownCheck) -> None:
        self._keep(
            CheckRecord(
                nodeid=check.nodeid,
                check_id=check.check_id,
                phase=check.phase,
                description="",
                outcome="not-collected",
                message=(
                    "not collected: a path argument, --ignore or an ini override left this "
                    "check out, so it did not run"
                ),
            )
        )

    def _keep(self, record: CheckRecord) -> None:
        self.harness.records[record.nodeid] = record
        self.harness.session_record.checks.append(record)
