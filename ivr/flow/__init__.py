"""Call flows: YAML data, validated into a typed schema, compiled into a `transitions` machine."""
