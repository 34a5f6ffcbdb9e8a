"""The `alertgw` command line (cli.py) and the drill engine (drill/): the top layer, which
may import the gateway, the workers and the core (docs/architecture.md).
"""
