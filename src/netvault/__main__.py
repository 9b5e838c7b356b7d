from netvault.cli.fast import run

run()
