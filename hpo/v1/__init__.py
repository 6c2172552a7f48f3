"""Generated code of the wire contract (proto/hpo/v1/hpo.proto); see proto/generate.py."""
