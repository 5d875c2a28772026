from drillpe.cli import main

main()
