#!/bin/sh
# The SeaweedFS container's entrypoint: writes the S3 identities file from the environment at every start
# (nothing secret is tracked in the repository), then runs the server with S3 on :8333.
#   ATS_S3_ACCESS_KEY_ID / ATS_S3_SECRET_ACCESS_KEY   the one identity the API uses (Admin on its buckets)
set -eu
: "${ATS_S3_ACCESS_KEY_ID:?set ATS_S3_ACCESS_KEY_ID}"
: "${ATS_S3_SECRET_ACCESS_KEY:?set ATS_S3_SECRET_ACCESS_KEY}"
for value in "$ATS_S3_ACCESS_KEY_ID" "$ATS_S3_SECRET_ACCESS_KEY"; do
  case "$value" in
    *[!A-Za-z0-9_.~+/=-]*) echo "S3 keys may hold only A-Z a-z 0-9 _ . ~ + / = -" >&2; exit 64 ;;
  esac
done
config_dir="${S3_CONFIG_DIR:-/tmp/seaweedfs}"
mkdir -p "$config_dir"
umask 077
cat > "$config_dir/s3.json" <<JSON
{
  "identities": [
    {
      "name": "ats",
      "credentials": [{"accessKey": "$ATS_S3_ACCESS_KEY_ID", "secretKey": "$ATS_S3_SECRET_ACCESS_KEY"}],
      "actions": ["Admin", "Read", "List", "Tagging", "Write"]
    }
  ]
}
JSON
exec weed server -s3 -dir=/data -s3.config="$config_dir/s3.json" "$@"
