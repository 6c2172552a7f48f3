"""``python -m hpo`` runs the command line."""

from hpo.cli import main

# Guarded: the coordinator's model process is spawned, and spawning re-imports this module.
if __name__ == "__main__":
    main()
