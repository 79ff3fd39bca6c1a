output "cluster_name" {
  description = "EKS cluster (the CI variable EKS_CLUSTER_NAME)"
  value       = aws_eks_cluster.main.name
}

output "deploy_role_arn" {
  description = "Role the CI deploy job assumes (the CI secret AWS_DEPLOY_ROLE_ARN)"
  value       = aws_iam_role.deploy.arn
}

output "registry" {
  description = "ECR registry host of the images"
  value       = split("/", aws_ecr_repository.service["gateway"].repository_url)[0]
}

output "app_secret_arn" {
  description = "Secrets Manager secret holding every GYM_* secret"
  value       = aws_secretsmanager_secret.app.arn
}

output "postgres_endpoint" {
  description = "PostgreSQL host:port (private)"
  value       = aws_db_instance.postgres.endpoint
}
