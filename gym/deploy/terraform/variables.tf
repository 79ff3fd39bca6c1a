variable "region" {
  description = "AWS region (sa-east-1 keeps personal data in Brazil)"
  type        = string
  default     = "sa-east-1"
}

variable "environment" {
  description = "Deployment name, part of every resource name"
  type        = string
  default     = "prod"
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,15}$", var.environment))
    error_message = "environment: 2-16 lower-case letters, digits or dashes, starting with a letter."
  }
}

variable "availability_zones" {
  description = "The three zones used (named, so the layout does not change when AWS adds a zone)"
  type        = list(string)
  default     = ["sa-east-1a", "sa-east-1b", "sa-east-1c"]
  validation {
    condition     = length(var.availability_zones) == 3
    error_message = "availability_zones: exactly three zones (subnets, NAT gateways and brokers are laid out for 3)."
  }
}

variable "vpc_cidr" {
  description = "Address range of the VPC (three private, three public and three data subnets are cut from it)"
  type        = string
  default     = "10.40.0.0/16"
}

variable "kubernetes_version" {
  description = "EKS control-plane version (the manifests are validated against its schemas)"
  type        = string
  default     = "1.33"
}

variable "node_instance_types" {
  description = "Instance types of the managed node group"
  type        = list(string)
  default     = ["m6i.large"]
}

variable "node_count" {
  description = "Nodes: desired, min, max (the HPAs scale pods; the cluster autoscaler scales nodes within this)"
  type        = object({ desired = number, min = number, max = number })
  default     = { desired = 3, min = 3, max = 9 }
}

variable "db_instance_class" {
  description = "RDS instance class of the PostgreSQL database"
  type        = string
  default     = "db.m6g.large"
}

variable "db_allocated_storage_gb" {
  description = "Initial PostgreSQL storage; it grows up to 5x by itself"
  type        = number
  default     = 100
}

variable "redis_node_type" {
  description = "ElastiCache node type"
  type        = string
  default     = "cache.t4g.medium"
}

variable "mq_instance_type" {
  description = "Amazon MQ (RabbitMQ) broker instance type"
  type        = string
  default     = "mq.m5.large"
}

variable "kafka_instance_type" {
  description = "MSK broker instance type"
  type        = string
  default     = "kafka.m5.large"
}

variable "api_allowed_cidrs" {
  description = "Who may reach the Kubernetes API endpoint (operators' and CI's addresses)"
  type        = list(string)
  validation {
    condition     = length(var.api_allowed_cidrs) > 0 && !contains(var.api_allowed_cidrs, "0.0.0.0/0")
    error_message = "api_allowed_cidrs: name the operators' and CI's ranges; 0.0.0.0/0 is refused."
  }
}

variable "backup_retention_days" {
  description = "Days of automated PostgreSQL backups (point-in-time restore window)"
  type        = number
  default     = 14
}
