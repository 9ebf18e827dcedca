from why5xx.cli import main

main()
