from netvault.cli.main import run

run()
