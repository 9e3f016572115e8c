from tcpq.cli import main

main()
