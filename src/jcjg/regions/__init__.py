"""Administrative regions (GB/T 2260 six-digit codes): the tree every data scope hangs from."""
