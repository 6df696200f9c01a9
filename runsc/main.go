// Command runsc is the Buffer Zone OCI runtime and sandbox.
package main

func main() {}
