"""Annotation in Label Studio: server, projects, pre-annotation, import and export."""
