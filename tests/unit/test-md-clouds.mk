test-md-clouds_FAKES := tests/fakes/http-fake.c
