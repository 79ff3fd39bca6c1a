# Every credential and application secret is generated here and stored in Secrets Manager (encrypted with the
# project key). The CI deploy job copies them into the Kubernetes Secret gymchain-secrets (see
# .github/workflows/gymchain.yml and docs/runbooks.md); nothing secret is ever written into the repository.
# Note: the generated values also live in the Terraform state, which is why the state bucket is encrypted and
# access to it is limited to the operators.
resource "random_password" "postgres" {
  length  = 40
  special = false
}

resource "random_password" "redis" {
  length  = 64
  special = false # ElastiCache auth tokens accept only printable characters without @ " /
}

resource "random_password" "rabbitmq" {
  length  = 40
  special = false
}

resource "random_password" "app" {
  for_each = toset(["jwt_secret", "blind_index_key", "sync_secret"])
  length   = 64
  special  = false
}

resource "random_id" "pii_key" {
  byte_length = 32 # GYM_PII_KEY: AES-256-GCM key, urlsafe base64 of 32 bytes
}

resource "aws_secretsmanager_secret" "app" {
  #checkov:skip=CKV2_AWS_57:Rotating GYM_PII_KEY / GYM_BLIND_INDEX_KEY needs re-encrypting the database, so rotation is the operator procedure in docs/runbooks.md, not a Lambda
  name                    = "${local.name}/app"
  description             = "GYM_* settings of every gymchain process (docs/runbooks.md)"
  kms_key_id              = aws_kms_key.main.arn
  recovery_window_in_days = 30
}

resource "aws_secretsmanager_secret_version" "app" {
  secret_id = aws_secretsmanager_secret.app.id
  secret_string = jsonencode({
    GYM_DATABASE_URL    = "postgresql+psycopg://gymchain:${random_password.postgres.result}@${aws_db_instance.postgres.address}:5432/gymchain?sslmode=require"
    GYM_REDIS_URL       = "rediss://:${random_password.redis.result}@${aws_elasticache_replication_group.redis.primary_endpoint_address}:6379/0"
    GYM_RABBIT_URL      = "amqps://gymchain:${random_password.rabbitmq.result}@${replace(aws_mq_broker.rabbitmq.instances[0].endpoints[0], "amqps://", "")}/%2F"
    GYM_KAFKA_BOOTSTRAP = aws_msk_cluster.kafka.bootstrap_brokers_sasl_iam
    GYM_JWT_SECRET      = random_password.app["jwt_secret"].result
    GYM_PII_KEY         = replace(replace(random_id.pii_key.b64_std, "+", "-"), "/", "_")
    GYM_BLIND_INDEX_KEY = random_password.app["blind_index_key"].result
    GYM_SYNC_SECRET     = random_password.app["sync_secret"].result
  })
}
