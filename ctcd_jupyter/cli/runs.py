"""`ctcd runs` (the run history) and `ctcd gc` (delete outputs only old runs reference)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from ..errors import CtcdError, PipelineDefinitionError, did_you_mean, unknown_name
from .group import Group

if TYPE_CHECKING:
    from ..state import Store

__all__ = ["COMMANDS"]


def _runs_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pipeline", nargs="?", default=None, help="only this pipeline's runs")
    parser.add_argument("-n", type=int, default=20, help="how many runs (default 20)")
    parser.add_argument("--show", metavar="RUN_ID", default=None,
                        help="one run in full: steps, notes, error and log (an id prefix works)")
    parser.add_argument("--json", action="store_true", help="print JSON")


def _runs(args: argparse.Namespace) -> int:
    from ..engine.run_store import load_run, load_runs, reap_orphaned_runs
    from ..state import Store, state_home
    from ..views.json import run_json
    from ..views.runs import run_text, runs_table

    store = Store(state_home(args.home))
    try:
        reap_orphaned_runs(store)
        if args.show:
            run = load_run(store, args.show)
            if run is None:
                raise CtcdError(_no_single_run(store, args.show))
            print(json.dumps(run_json(run, detail=True), indent=2, default=str) if args.json
                  else run_text(run))
            return 0
        runs = load_runs(store, args.pipeline, limit=max(1, args.n))
        if not runs and args.pipeline and args.pipeline not in (known := _pipelines(store)):
            raise PipelineDefinitionError(unknown_name("pipeline", args.pipeline, known),
                                          pipeline=args.pipeline)
        print(json.dumps([run_json(r) for r in runs], indent=2, default=str) if args.json
              else runs_table(runs))
        return 0
    finally:
        store.close()


def _pipelines(store: Store) -> set[str]:
    from ..engine.run_store import pipeline_names

    return set(pipeline_names(store, defined=True))


def _no_single_run(store: Store, prefix: str) -> str:
    from ..engine.run_store import run_ids

    matches = run_ids(store, prefix)
    if len(matches) > 1:
        return (f"{len(matches)} runs have ids starting with {prefix!r} "
                f"({', '.join(matches[:5])}{', ...' if len(matches) > 5 else ''}): "
                "give more of the id")
    ids = run_ids(store)
    newest = ", ".join(ids[:5]) or "none"
    return (f"no run with an id starting with {prefix!r}{did_you_mean(prefix, ids)}; "
            f"the newest: {newest} (ctcd runs lists them)")


# -- ctcd gc ----------------------------------------------------------------------------------
def _gc_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--keep", type=int, default=None, metavar="N",
                        help="runs per pipeline whose outputs are kept "
                             "(default: $CTCD_KEEP_RUNS, else 50)")


def _gc(args: argparse.Namespace) -> int:
    from ..workspace import Workspace

    if args.keep is not None and args.keep < 1:
        print("ctcd: error: --keep must be at least 1", file=sys.stderr)
        return 2
    from ..services.registry import remove_leftover_model_copies

    workspace = Workspace(args.home, tracking=False)
    try:
        print(workspace.prune(args.keep))
    finally:
        workspace.close()
    copies = remove_leftover_model_copies(args.home)
    print(f"removed {len(copies)} leftover model cop{'y' if len(copies) == 1 else 'ies'} "
          "(loads that timed out, servers that were killed)")
    return 0


COMMANDS = {
    "runs": Group("pipeline run history", _runs_arguments, _runs),
    "gc": Group("delete step outputs that only old runs reference, and leftover model copies",
                _gc_arguments, _gc),
}
