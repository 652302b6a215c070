from ccnews.cli import main

main()
