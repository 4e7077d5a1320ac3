"""`hunt RULE... [--json] [--since DATE]`: run hIGMA rules over the store and the enabled plugins.

Every run is recorded in the store; the output marks what is new since the rule's previous run,
so a scheduled `hunt` is a recurring check. `--since` keeps results first seen on or after DATE.

--json prints, per rule (a list of these when several rules are given):
  {"rule": {"id", "title"},
   "results": [{"value", "type", "kind", "groups", "first_seen", "last_seen", "first_reported",
                "sources", "evidence": [{"pivot", "value"}]}],
   "new": [the results not found by the previous run, same shape],
   "run": {"id", "started", "previous", "rule_changed", "since"},
   "messages": [notes from the sources, e.g. a plugin that failed]}
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


def register(subparsers) -> None:
    import argparse

    cmd = subparsers.add_parser("hunt", help="run hIGMA rules and report what is new since the previous run",
                                description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cmd.add_argument("rules", nargs="+", type=Path, help="rule files (YAML)")
    cmd.add_argument("--json", action="store_true", help="machine-readable output (shape above)")
    cmd.add_argument("--since", metavar="DATE", help="only results first seen on or after DATE (YYYY-MM-DD)")
    cmd.add_argument("--no-record", action="store_true", help="do not record this run (a dry run)")
    cmd.set_defaults(handler=run)


def run(args) -> int:
    from higma.model import RuleError
    from higma.parser import load_rule
    from store.normalize import InvalidValue, iso_date

    since = None
    if args.since:
        try:
            since = iso_date(args.since)
        except InvalidValue as exc:
            print(f"--since: {exc}", file=sys.stderr)
            return 2
    rules, failed = [], False
    for path in args.rules:
        try:
            rules.append(load_rule(path))
        except RuleError as exc:
            failed = True
            for problem in exc.errors:
                print(f"error: {problem}", file=sys.stderr)
    if failed:
        print("no rule was run: fix the rules above first (python server.py higma validate RULE)", file=sys.stderr)
        return 2

    from higma.runner import Runner
    from transforms.service import Service

    runner = Runner(Service())
    reports = [runner.hunt(rule, since=since, record=not args.no_record) for rule in rules]
    if args.json:
        documents = [report.as_json() for report in reports]
        print(json.dumps(documents[0] if len(documents) == 1 else documents, indent=1, ensure_ascii=False))
        return 0
    for report in reports:
        _print_report(report)
    return 0


def _print_report(report) -> None:
    rule = report.rule
    previous = f"previous run {report.previous.started}" if report.previous else "first run"
    since = f", first seen since {report.since}" if report.since else ""
    print(f"{rule.title} ({rule.id})")
    print(f"  {len(report.results)} result(s){since}, {len(report.new)} new ({previous})")
    for result in report.results:
        mark = "+" if result.new else " "
        seen = result.first_seen[:10] if result.first_seen else "-"
        print(f"  {mark} {result.subject.value:<40} {result.subject.kind:<6} first seen {seen:<10} "
              f"{', '.join(result.groups)}")
    for message in report.messages:
        print(f"  note: {message}")
    if report.results:
        print("  (+ marks a result that is new since the previous run)")
