"""Platform support with no domain knowledge: database, errors, templating, blobs, jobs."""
