from fuchsia.cli import main

main()
