test-s3-retry_FAKES := tests/fakes/http-fake.c
