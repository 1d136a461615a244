"""Front-end components: each turns a batch of clips into text a reasoner can use."""
