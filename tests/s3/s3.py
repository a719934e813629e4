"""A few S3 operations for tests/s3/run.sh, with boto3 (which moto[server] brings) against the
local server named by AWS_ENDPOINT and the credentials in the AWS_* environment variables.

    s3.py user                      make an IAM user allowed everything and print its key id
                                    and secret (the server's first three requests need none)
    s3.py mb BUCKET                 make a bucket
    s3.py put LOCAL s3://B/KEY      upload a file
    s3.py get s3://B/KEY LOCAL      download an object
    s3.py cat s3://B/KEY            print an object
    s3.py ls s3://B/PREFIX          list keys under a prefix, one per line
    s3.py rm s3://B/PREFIX          delete every object under a prefix
"""
import json
import os
import sys

import boto3


def client():
    return boto3.client(
        "s3",
        endpoint_url=os.environ["AWS_ENDPOINT"],
        region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        # the TLS server's certificate is made up on the spot (moto_server --ssl)
        verify=os.environ.get("AWS_ALLOW_INVALID_CERTIFICATES") != "true",
    )


def split(url):
    assert url.startswith("s3://"), url
    bucket, _, key = url[5:].partition("/")
    return bucket, key


def main(args):
    if args[0] == "user":
        iam = boto3.client(
            "iam",
            endpoint_url=os.environ["AWS_ENDPOINT"],
            region_name="us-east-1",
            aws_access_key_id="setup",
            aws_secret_access_key="setup",
        )
        iam.create_user(UserName="dimred")
        policy = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
        }
        iam.put_user_policy(
            UserName="dimred", PolicyName="all", PolicyDocument=json.dumps(policy)
        )
        key = iam.create_access_key(UserName="dimred")["AccessKey"]
        print(key["AccessKeyId"], key["SecretAccessKey"])
        return
    s3 = client()
    if args[0] == "mb":
        s3.create_bucket(Bucket=args[1])
    elif args[0] == "put":
        bucket, key = split(args[2])
        s3.upload_file(args[1], bucket, key)
    elif args[0] == "get":
        bucket, key = split(args[1])
        s3.download_file(bucket, key, args[2])
    elif args[0] == "cat":
        bucket, key = split(args[1])
        sys.stdout.buffer.write(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    elif args[0] in ("ls", "rm"):
        bucket, prefix = split(args[1])
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
        for key in sorted(keys):
            if args[0] == "ls":
                print(key)
            else:
                s3.delete_object(Bucket=bucket, Key=key)
    else:
        sys.exit(f"unknown command {args[0]}")


if __name__ == "__main__":
    main(sys.argv[1:])
