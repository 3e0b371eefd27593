"""The comparison side of bench/upload/run.sh: what the Python runtime does.

  boto3_upload.py upload <endpoint> <bucket> <prefix> <path>
      every regular file under <path> (or <path> itself), one upload_file call
      each with boto3's default TransferConfig, keyed <prefix><relative path>
  boto3_upload.py presign <endpoint> <bucket> <key>
      prints a presigned PUT URL (for the curl -T ceiling)

Credentials and region come from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
and AWS_DEFAULT_REGION.
"""

import os
import sys

import boto3
from botocore.config import Config


def client(endpoint):
    # Path-style, as build-task uses for a custom endpoint.
    return boto3.client("s3", endpoint_url=endpoint, config=Config(s3={"addressing_style": "path"}))


def files(root):
    if os.path.isfile(root):
        yield root, os.path.basename(root)
        return
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            if os.path.isfile(path) and not os.path.islink(path):
                yield path, os.path.relpath(path, root).replace(os.sep, "/")


def main(argv):
    if len(argv) == 5 and argv[0] == "upload":
        endpoint, bucket, prefix, root = argv[1:]
        s3 = client(endpoint)
        count = 0
        for path, key in files(root):
            s3.upload_file(path, bucket, prefix + key)
            count += 1
        print(f"{count} objects")
    elif len(argv) == 4 and argv[0] == "presign":
        endpoint, bucket, key = argv[1:]
        print(client(endpoint).generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=3600))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
