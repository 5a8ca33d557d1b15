test-metadata_FAKES := tests/fakes/http-fake.c
