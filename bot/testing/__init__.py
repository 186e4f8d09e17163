"""The offline stack shipped with the bot: fakes and helpers for tests, demos and
benchmarks."""
