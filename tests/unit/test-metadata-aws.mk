test-metadata-aws_FAKES := tests/fakes/http-fake.c
