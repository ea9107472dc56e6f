"""The ``summarize`` stage: a pipeline's variants side by side (seeds pooled), by round and at the end."""
