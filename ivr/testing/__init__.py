"""The test harness the tests and the benchmarks share: a signed test caller, a stand-in for
Twilio's media edge, nginx in front of several servers, a fake shop, the real PostgreSQL and
Redis, and the shipped line with the demo data.

It lives in the package (as Pipecat ships its test harness) so that `benchmarks/` measures
with the same parts the tests check, without importing the test suite. Nothing in the line
imports it: it sits in its own top layer (pyproject.toml), beside `ivr.cli`. It needs the
test extras (`pip install -e .[test]`): pytest for the services' skips.
"""
