"""The project's client libraries (clients/), run as the tests of a release would."""
