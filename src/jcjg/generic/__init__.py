"""Generic list / detail / form / history pages, JSON API and CSV/xlsx import-export for any
institution-scoped entity described by an :class:`~jcjg.generic.spec.EntitySpec` (NetBox's
generic views: a new entity gets all of them, and their tests, by declaring its fields)."""
