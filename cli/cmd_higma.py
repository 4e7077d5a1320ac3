"""`higma validate|convert|draft`: check hIGMA rules, render them as vendor queries, draft them from a trail.

    higma validate RULE...                 exit 0 when every rule is valid (warnings are printed), else 1
    higma convert RULE --to urlscan|shodan|securitytrails|local [--json]
    higma draft --trail JSON               rule from a dtf.trail (JSON text, @FILE, or - for stdin)
    higma draft --from-entity TYPE VALUE [PROPS]
                                           as the Maltego transform does: PROPS is Maltego's k=v#k2=v2
                                           property string holding dtf.trail (or give --trail); the
                                           earlier steps are checked against the store for that entity
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


def register(subparsers) -> None:
    cmd = subparsers.add_parser("higma", help="validate, convert and draft hIGMA rules")
    sub = cmd.add_subparsers(title="higma commands", metavar="ACTION")

    validate = sub.add_parser("validate", help="check rules; exit 0 when all are valid (warnings allowed)")
    validate.add_argument("rules", nargs="+", type=Path, help="rule files, or directories of *.yaml rules")
    validate.add_argument("--json", action="store_true", help="one object per rule: file, valid, errors, warnings")
    validate.set_defaults(handler=run_validate)

    convert = sub.add_parser("convert", help="render a rule as backend queries")
    convert.add_argument("rules", nargs="+", type=Path)
    convert.add_argument("--to", required=True, choices=("urlscan", "shodan", "securitytrails", "local"))
    convert.add_argument("--json", action="store_true", help="JSON instead of YAML")
    convert.set_defaults(handler=run_convert)

    draft = sub.add_parser("draft", help="write a rule from a pivot trail")
    draft.add_argument("--trail", help="dtf.trail JSON, @FILE, or - to read stdin")
    draft.add_argument("--from-entity", nargs="+", metavar=("TYPE", "VALUE"),
                       help="the result entity: TYPE VALUE [PROPS], e.g. maltego.Domain x.test 'dtf.trail=[...]'")
    draft.add_argument("--author", default="DTF transform pack (draft)")
    draft.add_argument("-o", "--output", type=Path, help="write the rule to this file instead of stdout")
    draft.set_defaults(handler=run_draft)
    cmd.set_defaults(handler=lambda args: (cmd.print_help(), 2)[1])


# ---- validate ---------------------------------------------------------------------------------------------

def _rule_files(paths: list[Path]) -> list[Path]:
    files = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix.lower() in (".yaml", ".yml") and p.is_file())
        else:
            files.append(path)
    return files


def run_validate(args) -> int:
    from higma.convert import backend_warnings
    from higma.model import RuleError
    from higma.parser import load_rule

    reports, all_valid = [], True
    files = _rule_files(args.rules)
    if not files:
        print("no rule files found", file=sys.stderr)
        return 1
    for path in files:
        try:
            rule = load_rule(path)
        except RuleError as exc:
            all_valid = False
            reports.append({"file": str(path), "valid": False, "errors": [p.as_json() for p in exc.errors],
                            "warnings": [p.as_json() for p in exc.problems if p not in exc.errors]})
            continue
        warnings = [w.as_json() for w in rule.warnings]
        warnings += [{"file": str(path), "field": "backends", "reason": text, "severity": "warning"}
                     for text in backend_warnings(rule)]
        reports.append({"file": str(path), "valid": True, "id": rule.id, "title": rule.title, "errors": [],
                        "warnings": warnings})
    if args.json:
        print(json.dumps(reports, indent=1, ensure_ascii=False))
    else:
        for report in reports:
            status = "valid" if report["valid"] else "INVALID"
            title = f" ({report['title']})" if report.get("title") else ""
            print(f"{report['file']}: {status}{title}")
            for error in report["errors"]:
                print(f"  error: {error['field']}: {error['reason']}")
            for warning in report["warnings"]:
                print(f"  warning: {warning['field']}: {warning['reason']}")
    return 0 if all_valid else 1


# ---- convert ----------------------------------------------------------------------------------------------

def run_convert(args) -> int:
    import yaml

    from higma.convert import ConversionError, convert
    from higma.model import RuleError
    from higma.parser import load_rule

    documents, status = [], 0
    for path in args.rules:
        try:
            documents.append(convert(load_rule(path), args.to).as_json())
        except RuleError as exc:
            for problem in exc.errors:
                print(f"error: {problem}", file=sys.stderr)
            status = 2
        except ConversionError as exc:
            print(f"error: {path}: {exc}", file=sys.stderr)
            status = 1
    if documents:
        data = documents[0] if len(documents) == 1 else documents
        if args.json:
            print(json.dumps(data, indent=1, ensure_ascii=False))
        else:
            sys.stdout.write(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=120))
    return status


# ---- draft ------------------------------------------------------------------------------------------------

def _read_trail(text: str) -> str:
    if text == "-":
        return sys.stdin.read()
    if text.startswith("@"):
        return Path(text[1:]).read_text(encoding="utf-8")
    return text


def run_draft(args) -> int:
    from higma.draft import DraftError, draft_rule
    from plugins.base import Subject
    from store.normalize import InvalidValue, normalize

    if not args.trail and not args.from_entity:
        print("give --trail JSON or --from-entity TYPE VALUE [PROPS]", file=sys.stderr)
        return 2
    try:
        trail = _read_trail(args.trail) if args.trail else None
    except OSError as exc:
        print(f"--trail: {exc}", file=sys.stderr)
        return 2
    subject, holds = None, None
    if args.from_entity:
        if len(args.from_entity) not in (2, 3):
            print("--from-entity takes TYPE VALUE [PROPS]", file=sys.stderr)
            return 2
        entity_type, value = args.from_entity[:2]
        kind = _kind_of(entity_type)
        if kind is None:
            print(f"--from-entity: {entity_type!r} is not a Domain, IP or URL entity type", file=sys.stderr)
            return 2
        try:
            subject = Subject(kind, normalize(kind, value)[1])
        except InvalidValue as exc:
            print(f"--from-entity: {exc}", file=sys.stderr)
            return 2
        if trail is None and len(args.from_entity) == 3:
            from transforms.maltego_xml import local_request

            trail = local_request(entity_type, value, args.from_entity[2]).entity.properties.get("dtf.trail")
        if not trail:
            print("the entity carries no dtf.trail: pass it in PROPS (dtf.trail=...) or with --trail", file=sys.stderr)
            return 2
        from higma.runner import Runner
        from transforms.service import Service

        holds = Runner(Service()).holds
    try:
        text, rule = draft_rule(trail, subject, holds, author=args.author)
    except DraftError as exc:
        print(f"cannot draft a rule: {exc}", file=sys.stderr)
        return 2
    if args.output:
        args.output.write_text(text, encoding="utf-8")
        print(f"wrote {args.output} ({rule.title})", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _kind_of(entity_type: str) -> str | None:
    from entities.types import INPUT_KIND_OF_TYPE

    names = {"domain": "domain", "ip": "ip", "ipv4": "ip", "ipv6": "ip", "url": "url"}
    full = entity_type if "." in entity_type else f"maltego.{entity_type}"
    kind = INPUT_KIND_OF_TYPE.get(full) or INPUT_KIND_OF_TYPE.get(entity_type) or names.get(entity_type.lower())
    return kind if kind in ("domain", "ip", "url") else None
