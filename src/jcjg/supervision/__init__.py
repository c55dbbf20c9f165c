"""Supervision work (监督执法): random spot-check plans ("双随机、一公开"), checks on a phone,
published results, and the supervision log (监管台账); docs/supervision.md."""
