from wisp_gateway.cli import main

main()
