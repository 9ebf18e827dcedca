"""`why5xx lint`: the 5xx a set of manifests will cause, found before they
are applied. Checks (`lint.checks`) are pure functions over one object of
the manifests (`lint.manifests`); the runner (`lint.runner`) stamps codes and
levels, honours suppressions and `.why5xx.yaml` (`lint.config`); renderers
live in `why5xx.report` (`lint_text`, `lint_json`, `lint_sarif`,
`lint_github`)."""
