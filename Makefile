.PHONY: demo test setup bench
demo:    ## set up, load the demonstration city, serve the web app
	bash scripts/run-demo.sh
test:    ## set up (with Chromium) and run the tests
	bash scripts/run-tests.sh
setup:
	bash scripts/setup.sh --test
bench:   ## bulk assignment benchmark (1,000,000 employers, 2,000 grids)
	.venv/bin/python benchmarks/assign.py
