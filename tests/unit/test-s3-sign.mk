test-s3-sign_FAKES := tests/fakes/http-fake.c
