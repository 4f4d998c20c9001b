// PLACEHOLDER: see noise helper
