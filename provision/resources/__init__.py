"""One module per Azure resource kind, each with read / diff / apply (/ delete), like a Terraform provider's
resources. `read` returns None when the object does not exist; `diff` is pure; `apply` performs the change and
ends by reading the object back."""
