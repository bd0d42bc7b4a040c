"""The neural methods: the network alone, the two-level and multilevel hybrids with their array
backends (numpy, torch), the article's scheme and the operator-network iteration."""
