"""resdepth's harness: suites, cells, runner, training, metrics, results store and CLI."""
