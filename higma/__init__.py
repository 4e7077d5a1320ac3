"""hIGMA rules for DTF: parse and validate them, run them as hunts over the store and the enabled plugins,
convert them to vendor queries, and draft them from a Maltego pivot trail. See docs/higma.md.

    from higma.parser import load_rule        # -> Rule, or RuleError with file/field/reason problems
    from higma.runner import Runner           # Runner(service).hunt(rule, since=None) -> HuntReport
    from higma.convert import convert         # convert(rule, "urlscan" | "shodan" | "securitytrails" | "local")
    from higma.draft import draft_rule        # draft_rule(trail, subject=None, holds=None) -> (yaml, Rule)
"""
