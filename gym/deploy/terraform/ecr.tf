# One image repository per Dockerfile target (gym/deploy/docker/Dockerfile); tags are immutable, pushes scanned.
locals {
  images = ["gateway", "auth", "members", "analytics", "vision", "assistant", "sync-central", "edge",
  "outbox-relay", "sensor-ingest", "analytics-worker", "vision-worker", "assistant-worker", "drift-monitor", "migrate"]
}

resource "aws_ecr_repository" "service" {
  for_each             = toset(local.images)
  name                 = "gymchain-${each.key}"
  image_tag_mutability = "IMMUTABLE"
  image_scanning_configuration {
    scan_on_push = true
  }
  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = aws_kms_key.main.arn
  }
}

resource "aws_ecr_lifecycle_policy" "service" {
  for_each   = aws_ecr_repository.service
  repository = each.value.name
  policy = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "keep the last 30 images"
      selection    = { tagStatus = "any", countType = "imageCountMoreThan", countNumber = 30 }
      action       = { type = "expire" }
    }]
  })
}
