# gymchain on AWS (sa-east-1, São Paulo: the members' data stays in Brazil, LGPD art. 33 needs no transfer basis).
# Network, EKS (Kubernetes), RDS PostgreSQL 15, ElastiCache Redis, Amazon MQ (RabbitMQ), MSK (Kafka), Secrets
# Manager, ECR, KMS. No terraform binary exists on the development machines: gym/tests/test_deploy_static.py parses
# every file (python-hcl2), checks the references, and runs checkov on this directory. Apply from a workstation:
#   terraform init && terraform plan -var-file=prod.tfvars && terraform apply -var-file=prod.tfvars
# The runbook is gym/docs/runbooks.md ("Provision the cloud").
terraform {
  required_version = ">= 1.6.0"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.80"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }
  # State in S3 with locking; the bucket is created once by hand (chicken and egg), named in backend.hcl.
  backend "s3" {}
}

provider "aws" {
  region = var.region
  default_tags {
    tags = {
      Project     = "gymchain"
      Environment = var.environment
      ManagedBy   = "terraform"
    }
  }
}

data "aws_caller_identity" "current" {}

locals {
  name = "gymchain-${var.environment}"
  azs  = var.availability_zones
}
