"""What Parlour does, independent of HTTP: each public function is one use case."""
