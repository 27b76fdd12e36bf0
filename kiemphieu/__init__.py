"""kiemphieu."""
