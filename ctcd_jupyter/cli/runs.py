"""`ctcd runs` (the run history) and `ctcd gc` (delete outputs only old runs reference)."""

from __future__ import annotations

import argparse
import json
import sys

from .group import Group

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
                print(f"ctcd: error: no single run matches {args.show!r}", file=sys.stderr)
                return 1
            print(json.dumps(run_json(run, detail=True), indent=2, default=str) if args.json
                  else run_text(run))
            return 0
        runs = load_runs(store, args.pipeline, limit=max(1, args.n))
        print(json.dumps([run_json(r) for r in runs], indent=2, default=str) if args.json
              else runs_table(runs))
        return 0
    finally:
        store.close()


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
    from ..services.mlflow_serving import remove_leftover_model_copies

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
